"""The variational autoencoder's own figures: its latent space decoded, and reconstructions."""

import torch

from datasets import ClassTable
from plotting import figure_to_png, manifold_figure, reconstructions_figure

MANIFOLD_SIDE = 20                     # latent points per varied dimension
MANIFOLD_QUANTILES = (0.05, 0.95)      # of the prior N(0, 1), the range each dimension spans


@torch.no_grad()
def vae_figures(model, split):
    """{file suffix: PNG bytes} of the manifold and the reconstructions of `split`, in eval mode."""
    model.eval()
    return {"manifold.png": figure_to_png(manifold(model, split.labels.device)),
            "reconstructions.png": figure_to_png(reconstructions(model, split))}


def manifold(model, device):
    """Images decoded from a regular grid of latent points, spaced by the prior's quantiles.

    With 2 latent dimensions the grid covers the plane: 20 x 20 points over the central
    quantiles of N(0, 1), so that every cell holds the same prior mass. With more, the first
    two dimensions vary over that grid and the others stay at 0, the prior's mean (a slice
    through the space); with one, that dimension varies along a single row.
    """
    quantiles = torch.linspace(*MANIFOLD_QUANTILES, MANIFOLD_SIDE, dtype=torch.float64)
    values = torch.distributions.Normal(0.0, 1.0).icdf(quantiles).float()
    dims = model.latent_dims
    rows = values.flip(0) if dims > 1 else torch.zeros(1)   # top row: the largest z2
    latents = torch.zeros(len(rows), MANIFOLD_SIDE, dims)
    latents[:, :, 0] = values
    if dims > 1:
        latents[:, :, 1] = rows.unsqueeze(1)
    images = torch.sigmoid(model.decode(latents.flatten(0, 1).to(device)))
    title = "Decoded from a grid over the prior's quantiles"
    if dims > 2:
        title += f" (z1, z2; {'z3' if dims == 3 else f'z3 to z{dims}'} at 0)"
    return manifold_figure(images.reshape(len(rows), MANIFOLD_SIDE, 28, 28).cpu().numpy(),
                           values.numpy(), rows.numpy() if dims > 1 else None, title)


def reconstructions(model, split):
    """The first image of each class in `split` above its decoding from the posterior mean."""
    table = ClassTable(split.labels)
    indices = table.order[table.offset].to(split.labels.device)
    decoded = torch.sigmoid(model.decode(model.embed(split.inputs(indices))))
    return reconstructions_figure(split.pixels(indices).squeeze(1).cpu().numpy(),
                                  decoded.squeeze(1).cpu().numpy(),
                                  "Test images (top) and their reconstructions from the posterior mean")
