"""The seed guide's command lines: read from HF_COMPREHENSIVE_TESTING_GUIDE.md, or from the copy vendored in
tests/cli/data/seed_guide_commands.tsv (a clean clone has no ../shared/seed; the copy keeps the test runnable).

A line is `python test/test_comprehensive_hardware_coverage.py <flags>` (or generators/..., once), joined across
backslash continuations; each keeps the guide's line number and its section (## / ###), since a prerequisite may
only be one its own section creates first.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO.parent / "shared" / "seed" / "HF_COMPREHENSIVE_TESTING_GUIDE.md"
VENDORED = Path(__file__).resolve().parent / "data" / "seed_guide_commands.tsv"
COMMAND = re.compile(r"\s*python (?:test|generators)/test_comprehensive_hardware_coverage\.py(.*)")


@dataclass(frozen=True)
class GuideLine:
    number: int  # line number in the guide (the command's last line)
    section: str  # "## section / ### subsection"
    flags: str  # as written after the script name

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.flags)


def parse_guide(text: str) -> list[GuideLine]:
    """Every distinct command line, first occurrence first."""
    lines, out, seen = text.splitlines(), [], set()
    top = sub = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            top, sub = line[3:].strip(), ""
        elif line.startswith("### "):
            sub = line[4:].strip()
        found = COMMAND.match(line)
        if found:
            flags = found.group(1)
            while flags.endswith("\\"):
                i += 1
                flags = flags[:-1] + " " + lines[i].strip()
            flags = " ".join(flags.split())
            if flags not in seen:
                seen.add(flags)
                out.append(GuideLine(i + 1, f"{top} / {sub}", flags))
        i += 1
    return out


def vendored() -> list[GuideLine]:
    rows = [r.split("\t") for r in VENDORED.read_text(encoding="utf-8").splitlines() if r and not r.startswith("#")]
    return [GuideLine(int(n), section, flags) for n, section, flags in rows]


def write_vendored(found: list[GuideLine]) -> None:
    header = ("# The distinct command lines of ../shared/seed/HF_COMPREHENSIVE_TESTING_GUIDE.md (the seed guide), "
              "copied by tests/cli/seed_guide.py:write_vendored\n# so a clean clone without ../shared tests them too; "
              "test_the_vendored_copy_matches_the_guide checks it whenever the guide is present.\n"
              "# guide line\tsection\tflags after `python test/test_comprehensive_hardware_coverage.py`\n")
    VENDORED.write_text(header + "".join(f"{g.number}\t{g.section}\t{g.flags}\n" for g in found), encoding="utf-8")


if __name__ == "__main__":
    write_vendored(parse_guide(GUIDE.read_text(encoding="utf-8")))
