"""Partitions: model categories (inventory, generated tests) and hardware keys (results)."""
import warnings

from dagster import BackfillPolicy, BetaWarning, StaticPartitionsDefinition

from hwcov.backends.registry import all_hardware
from hwcov.models.inventory import CATEGORIES

category_partitions = StaticPartitionsDefinition(list(CATEGORIES))
# Built-in keys plus platforms defined from JSON (a bad platform file fails the load, naming the field).
hardware_partitions = StaticPartitionsDefinition(list(all_hardware()))

warnings.filterwarnings("ignore", category=BetaWarning)  # backfill_policy is beta in 1.13

# A backfill over many partitions is one run: run launch costs 13-16 s here.
single_run = BackfillPolicy.single_run()
