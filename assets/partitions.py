"""Partitions: model categories (inventory, generated tests) and hardware keys (results)."""
import warnings

from dagster import BackfillPolicy, BetaWarning, PreviewWarning, StaticPartitionsDefinition

from hwcov.backends.registry import all_hardware
from hwcov.models.inventory import CATEGORIES

category_partitions = StaticPartitionsDefinition(list(CATEGORIES))
# Built-in keys plus platforms defined from JSON (a bad platform file fails the load, naming the field).
hardware_partitions = StaticPartitionsDefinition(list(all_hardware()))

warnings.filterwarnings("ignore", category=BetaWarning)  # backfill_policy is beta in 1.13
# partitioned asset checks are a preview in 1.13: a check evaluation then names its hardware partition
warnings.filterwarnings("ignore", category=PreviewWarning)

# A backfill over many categories is one run: generation is incremental and cheap, a run launch costs seconds.
single_run = BackfillPolicy.single_run()
# A backfill over hardware partitions is one run per device (issue #29): each run carries dagster/partition, so
# dagster.yaml's one-run-per-device limit holds for backfills too, devices run side by side (4 runs at once), a
# device that hangs fails its own run only, and each materialization is its partition's.
per_hardware = BackfillPolicy.multi_run(max_partitions_per_run=1)
