from .distances import euclidean_distance, squared_euclidean_distance


def contrastive_loss(z1, z2, same, margin=1.0):
    """Contrastive loss of Hadsell, Chopra and LeCun (2006), averaged over the batch.

        L = mean( y * d^2 / 2 + (1 - y) * max(0, m - d)^2 / 2 )

    d = ||z1 - z2|| is the plain Euclidean distance of a pair's embeddings, y = `same` is 1.0
    when the two images share a class and 0.0 when they do not, m = `margin`. Similar pairs
    are pulled together; dissimilar pairs are pushed apart until they are m apart.
    """
    same = same.to(z1.dtype)
    pull = squared_euclidean_distance(z1, z2)
    push = (margin - euclidean_distance(z1, z2)).clamp_min(0).pow(2)
    return (same * pull + (1 - same) * push).mean() / 2
