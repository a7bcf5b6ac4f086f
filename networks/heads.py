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
    the component-wise distance of the two embeddings:

        logit(same) = sum_j a_j |z1_j - z2_j| + b,     p(same) = sigmoid(logit)
    """

    def __init__(self, latent_dims=2, backbone="original", in_channels=1, image_size=28):
        super().__init__()
        self.embedding_net = EmbeddingNet(latent_dims, backbone, in_channels, image_size)
        self.similarity = nn.Linear(latent_dims, 1)
        self.hyperparameters = dict(self.embedding_net.hyperparameters)

    def forward(self, first, second):
        """Logits that the pairs (first_i, second_i) show the same class; one trunk pass."""
        z1, z2 = self.embedding_net(torch.cat([first, second])).chunk(2)
        return self.similarity((z1 - z2).abs()).squeeze(1)

    def embed(self, images):
        return self.embedding_net(images)
