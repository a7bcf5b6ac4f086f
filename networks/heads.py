import torch
from torch import nn

from .embedding_net import EmbeddingNet


class ClassificationNet(nn.Module):
    """EmbeddingNet with a linear classifier on its embedding: image -> class logits."""

    def __init__(self, latent_dims=2, num_classes=10, backbone="original", in_channels=1, image_size=28):
        super().__init__()
        self.embedding_net = EmbeddingNet(latent_dims, backbone, in_channels, image_size)
        self.classifier = nn.Linear(latent_dims, num_classes)
        self.hyperparameters = dict(self.embedding_net.hyperparameters, num_classes=num_classes)

    def forward(self, images):
        return self.classifier(self.embedding_net(images))

    def embed(self, images):
        return self.embedding_net(images)


class KochSiameseNet(nn.Module):
    """Siamese network of Koch et al. (2015): shared EmbeddingNet, then a learned weighting of
    the component-wise distance of the two embeddings, each weight kept negative:

        logit(same) = b - sum_j softplus(w_j) |z1_j - z2_j|,     p(same) = sigmoid(logit)

    Koch's head is sum_j a_j |z1_j - z2_j| + b with a free sign; here a_j = -softplus(w_j) < 0,
    so a larger distance along any dimension can only mean "less alike", as it does for the
    Euclidean k-NN that reads the space. With a free sign, a weight that turns positive makes
    closeness along its dimension count as "different", and pairs of one class are pushed
    apart along it: the 2-D space folds over itself (validation 5-NN and MAP@R of both heads in
    benchmarks/results/recipes-original.md). `similarity` holds w (its weight) and b (its bias).
    """

    def __init__(self, latent_dims=2, backbone="original", in_channels=1, image_size=28):
        super().__init__()
        self.embedding_net = EmbeddingNet(latent_dims, backbone, in_channels, image_size)
        self.similarity = nn.Linear(latent_dims, 1)
        self.hyperparameters = dict(self.embedding_net.hyperparameters)

    def forward(self, first, second):
        """Logits that the pairs (first_i, second_i) show the same class; one trunk pass."""
        z1, z2 = self.embedding_net(torch.cat([first, second])).chunk(2)
        weights = nn.functional.softplus(self.similarity.weight.squeeze(0))
        return self.similarity.bias - ((z1 - z2).abs() * weights).sum(dim=1)

    def embed(self, images):
        return self.embedding_net(images)
