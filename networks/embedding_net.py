from .backbones import build_backbone
from .layers import Trunk


class EmbeddingNet(Trunk):
    """The shared trunk on its own: (B, in_channels, image_size, image_size) images ->
    (B, latent_dims) embeddings, through the backbone named `backbone` (networks/backbones.py).

    Its state_dict is the backbone's (`features.<i>`, `head.<i>`): the `original` backbone's
    keys are those the original project's EmbeddingNet had.
    """

    def __init__(self, latent_dims=2, backbone="original", in_channels=1, image_size=28):
        trunk = build_backbone(backbone, latent_dims, in_channels, image_size)
        super().__init__(trunk.features, trunk.head)
        self.latent_dims = latent_dims
        self.hyperparameters = dict(latent_dims=latent_dims, backbone=backbone,
                                    in_channels=in_channels, image_size=image_size)

    def embed(self, images):
        return self(images)
