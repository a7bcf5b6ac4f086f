from .binary_cross_entropy import binary_cross_entropy_with_logits


def gaussian_kl_divergence(mean, log_variance):
    """Per-sample KL( N(mean, diag(exp(log_variance))) || N(0, I) ), in closed form:

        KL_i = 1/2 * sum_j ( exp(v_ij) + mu_ij^2 - 1 - v_ij )

    `mean` mu and `log_variance` v are (B, D); returns (B,).
    """
    return 0.5 * (log_variance.exp() + mean.pow(2) - 1 - log_variance).sum(dim=1)


def negative_elbo(logits, targets, mean, log_variance):
    """Negative evidence lower bound of a variational autoencoder, averaged over the batch:

        L = mean_i( sum_pixels BCE(sigmoid(x_i), t_i) + KL( q(z | image_i) || N(0, I) ) )

    `logits` x are the decoder's outputs for one sample z ~ q(z | image_i) each (the
    reparameterisation trick: z = mu + exp(v / 2) * eps, eps ~ N(0, I)), `targets` t the
    images scaled to [0, 1] (same shape, (B, ...)), treated as Bernoulli probabilities;
    `mean` mu and `log_variance` v (B, D) the encoder's posterior q(z | image). The first
    term is the reconstruction, summed (not averaged) over the pixels of an image, so that it
    is -log p(image | z) and weighs against the KL term as the bound requires.
    """
    pixels_per_image = logits.shape[1:].numel()   # (not logits[0]: a batch may be empty)
    # A batch mean of per-image sums is the mean over all pixels times the pixels per image.
    reconstruction = binary_cross_entropy_with_logits(logits, targets) * pixels_per_image
    return reconstruction + gaussian_kl_divergence(mean, log_variance).mean()
