from torch import nn


class EmbeddingNet(nn.Module):
    """The shared convolutional trunk: a 1x28x28 image -> a `latent_dims` embedding.

    conv 1->6 5x5, PReLU, max-pool 2, conv 6->16 5x5, PReLU, max-pool 2,
    linear 256->128, PReLU, linear 128->latent_dims (after @adambielski's siamese-triplet).
    """

    def __init__(self, latent_dims=2):
        super().__init__()
        self.latent_dims = latent_dims
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.PReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.PReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Linear(16 * 4 * 4, 128), nn.PReLU(), nn.Linear(128, latent_dims))

    def forward(self, images):
        return self.head(self.features(images).flatten(1))

    def embed(self, images):
        return self(images)
