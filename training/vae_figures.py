"""The variational autoencoder's own figures: its latent space decoded, and reconstructions.

Images of any shape (C, H, W), C = 1 or 3: the shape is read from what the decoder returns
((B, C, H, W) logits) and from split.pixels ((B, C, H, W) in [0, 1]), never assumed.
"""

import torch

from datasets import ClassTable
from plotting import MAX_SHOWN_CLASSES, figure_to_png, manifold_figure, reconstructions_figure

MANIFOLD_SIDE = 20                     # latent points per varied dimension
MANIFOLD_QUANTILES = (0.05, 0.95)      # of the prior N(0, 1), the range each dimension spans


@torch.no_grad()
def vae_figures(model, split, *, network: str, dataset: str) -> dict[str, bytes]:
    """{file suffix: PNG bytes} of the manifold and the reconstructions of `split` (the test
    split), in eval mode; titles name `network` (canonical) and `dataset` (display name)."""
    model.eval()
    return {"manifold.png": figure_to_png(manifold(model, split.labels.device, network=network,
                                                   dataset=dataset)),
            "reconstructions.png": figure_to_png(reconstructions(model, split, network=network,
                                                                 dataset=dataset))}


def manifold(model, device, *, network: str, dataset: str):
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
    logits = model.decode(latents.flatten(0, 1).to(device))
    images = torch.sigmoid(logits).reshape(len(rows), MANIFOLD_SIDE, *logits.shape[1:])
    detail = "Decoded from a grid over the prior's quantiles"
    if dims > 2:
        detail += f" (z1, z2; {'z3' if dims == 3 else f'z3 to z{dims}'} at 0)"
    return manifold_figure(images.float().cpu().numpy(), values.numpy(),
                           rows.numpy() if dims > 1 else None, network=network, dataset=dataset,
                           detail=detail)


def reconstructions(model, split, *, network: str, dataset: str):
    """The first image of each class in `split` (of the first MAX_SHOWN_CLASSES classes
    present) above its decoding from the posterior mean, each column named by its class."""
    table = ClassTable(split.labels)
    indices = table.order[table.offset][:MAX_SHOWN_CLASSES].to(split.labels.device)
    decoded = torch.sigmoid(model.decode(model.embed(split.inputs(indices))))
    names = [split.class_names[cls] for cls in split.labels[indices].tolist()]
    detail = "Test images (top) and their reconstructions from the posterior mean"
    if table.num_classes > len(indices):
        detail += f"\n(the first {len(indices)} of {table.num_classes} classes)"
    return reconstructions_figure(split.pixels(indices).float().cpu().numpy(),
                                  decoded.float().cpu().numpy(), names, network=network,
                                  dataset=dataset, detail=detail)
