import torch
from torch import nn

from .embedding_net import EmbeddingNet


class VariationalAutoencoder(nn.Module):
    """A variational autoencoder (Kingma and Welling 2014) on 1x28x28 images.

    Encoder: the EmbeddingNet trunk with 2 * latent_dims outputs, read as the mean and the
    log-variance of a diagonal Gaussian q(z | image). Decoder: linear latent_dims->128,
    PReLU, linear 128->32*7*7, PReLU, transposed conv 32->16 (stride 2, 7->14), PReLU,
    transposed conv 16->1 (stride 2, 14->28): the logits of each pixel's Bernoulli.
    The embedding is the posterior mean.
    """

    def __init__(self, latent_dims=2):
        super().__init__()
        self.latent_dims = latent_dims
        self.encoder = EmbeddingNet(2 * latent_dims)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dims, 128), nn.PReLU(),
            nn.Linear(128, 32 * 7 * 7), nn.PReLU(), nn.Unflatten(1, (32, 7, 7)),
            nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.PReLU(),
            nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1),
        )

    def encode(self, images):
        """The posterior's (mean, log_variance), each (B, latent_dims)."""
        return self.encoder(images).chunk(2, dim=1)

    def decode(self, latents):
        """Pixel logits (B, 1, 28, 28) of latent points (B, latent_dims)."""
        return self.decoder(latents)

    def forward(self, images):
        """(logits, mean, log_variance): the decoding of one sample z ~ q(z | image) each,
        drawn with the reparameterisation trick z = mean + exp(log_variance / 2) * eps, so
        that the gradient flows through mean and log_variance."""
        mean, log_variance = self.encode(images)
        latents = mean + (0.5 * log_variance).exp() * torch.randn_like(mean)
        return self.decode(latents), mean, log_variance

    def embed(self, images):
        return self.encode(images)[0]
