"""Data: splits as tensors on the training device, and samplers that yield index batches.

`load_dataset` is the entry point: MNIST, FashionMNIST or a folder of images -> a `Dataset`.
The names (DATASET_NAMES, canonical_dataset_name, is_path, dataset_name, ...) import without
torch; everything else is imported when first used, so `from datasets import DATASET_NAMES`
keeps a command's --help fast.
"""

import importlib

from .names import CLASS_NAMES, DATASET_NAMES, canonical_dataset_name, dataset_name, folder_name, is_path

_WHERE = {"Dataset": ".load", "load_dataset": ".load", "load_split": ".mnist", "DatasetError": ".split",
          "Split": ".split", "BalancedBatchSampler": ".samplers", "ClassTable": ".samplers",
          "IndexSampler": ".samplers", "PairSampler": ".samplers", "TripletSampler": ".samplers"}

__all__ = ["CLASS_NAMES", "DATASET_NAMES", "canonical_dataset_name", "dataset_name", "folder_name", "is_path",
           *_WHERE]


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name], __name__), name)
