"""Data: splits as tensors on the training device, and samplers that yield index batches."""

from .mnist import CLASS_NAMES, DATASET_NAMES, DatasetError, Split, canonical_dataset_name, load_split
from .samplers import BalancedBatchSampler, ClassTable, IndexSampler, PairSampler, TripletSampler

__all__ = ["BalancedBatchSampler", "CLASS_NAMES", "DATASET_NAMES", "ClassTable", "DatasetError",
           "IndexSampler", "PairSampler", "Split", "TripletSampler", "canonical_dataset_name",
           "load_split"]
