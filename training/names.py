"""The names a user types, without importing torch: train.py's --help and its first checks
read them here, so that `python train.py --help` answers at once. tests/training/test_config.py
checks that they match the registry, the data sets, the miners and networks/backbones.py."""

NETWORKS = ("embedding-classification", "siamese-contrastive", "siamese-binary-cross-entropy",
            "triplet-loss-net", "online-contrastive", "online-triplet", "vae")
# The original project's spellings: its users' scripts still run.
ALIASES = {"siamese-constrastive": "siamese-contrastive", "tripet-loss-net": "triplet-loss-net"}
DATASETS = ("MNIST", "FashionMNIST")
MINING = ("batch-hard", "semi-hard", "all")
BACKBONES = ("original", "wide", "wide-gn")
