"""The case deadline's signal survives what native libraries do to the process's signal stack."""
import subprocess
import sys
import textwrap

# OpenVINO's CPU plugin swaps the thread's alternate signal stack per Core and puts the one it found back when the
# Core goes: two Cores released in the order they were made leave the first's freed stack installed. Before
# own_signal_stack() the mode deadline's SIGALRM then killed the process (SIGSEGV: CI's exit 139).
OUT_OF_ORDER_CORES_THEN_A_DEADLINE = textwrap.dedent("""
    import gc, time
    import openvino as ov, openvino.opset13 as ops
    from hwcov.core import limits

    def compiled_on_a_new_core():
        x = ops.parameter([1, 4], ov.Type.f32, name="x")
        core = ov.Core()
        return core, core.compile_model(ov.Model([ops.relu(x)], [x]), "CPU")

    first, second = compiled_on_a_new_core(), compiled_on_a_new_core()
    del first; gc.collect()
    del second; gc.collect()
    limits.start_case(1.5)
    try:
        with limits.stop_before_deadline(1.0):
            time.sleep(60)
    except limits.CaseTimeSpent as exc:
        print("stopped:", exc)
""")


def test_the_deadline_stops_a_mode_after_openvino_left_a_freed_signal_stack():
    done = subprocess.run([sys.executable, "-c", OUT_OF_ORDER_CORES_THEN_A_DEADLINE], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "stopped: the case's deadline is 1 s away" in done.stdout


def test_the_backend_and_the_dynamic_mode_share_one_core():
    from hwcov.backends import openvino
    from hwcov.export import openvino_core

    # one plugin per process: no Core released out of order, whether it compiles or reads a graph's declared shapes
    assert openvino.core() is openvino.core() is openvino_core.core()
