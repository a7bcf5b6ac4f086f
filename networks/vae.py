import torch
from torch import nn

from .backbones import build_backbone, build_decoder


class VariationalAutoencoder(nn.Module):
    """A variational autoencoder (Kingma and Welling 2014) on (in_channels, image_size,
    image_size) images.

    Encoder: the backbone with 2 * latent_dims outputs, read as the mean and the log-variance
    of a diagonal Gaussian q(z | image). Decoder: the backbone's decoder (networks/backbones.py),
    linear layers to a small feature map, then transposed convolutions up to the image's shape:
    the logits of each pixel's Bernoulli. The embedding is the posterior mean.
    """

    def __init__(self, latent_dims=2, backbone="original", in_channels=1, image_size=28):
        super().__init__()
        self.latent_dims = latent_dims
        self.image_shape = (in_channels, image_size, image_size)
        self.hyperparameters = dict(latent_dims=latent_dims, backbone=backbone,
                                    in_channels=in_channels, image_size=image_size)
        self.encoder = build_backbone(backbone, 2 * latent_dims, in_channels, image_size)
        self.decoder = build_decoder(backbone, latent_dims, in_channels, image_size)

    def encode(self, images):
        """The posterior's (mean, log_variance), each (B, latent_dims)."""
        return self.encoder(images).chunk(2, dim=1)

    def decode(self, latents):
        """Pixel logits (B, *image_shape) of latent points (B, latent_dims)."""
        return self.decoder(latents)

    def forward(self, images, noise=None):
        """(logits, mean, log_variance): the decoding of one sample z ~ q(z | image) each,
        drawn with the reparameterisation trick z = mean + exp(log_variance / 2) * eps, so
        that the gradient flows through mean and log_variance. `noise`: eps (B, latent_dims),
        drawn here when None (a caller that shares a batch across processes draws it for the
        whole batch)."""
        mean, log_variance = self.encode(images)
        if noise is None:
            noise = torch.randn_like(mean)
        latents = mean + (0.5 * log_variance).exp() * noise
        return self.decode(latents), mean, log_variance

    def embed(self, images):
        return self.encode(images)[0]
