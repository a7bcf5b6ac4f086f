import torch


def binary_cross_entropy_with_logits(logits, targets):
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], batch mean.

        L = mean( -t * log sigmoid(x) - (1 - t) * log(1 - sigmoid(x)) )
          = mean( max(x, 0) - x * t + log(1 + exp(-|x|)) )

    The second form never exponentiates a large positive number, so it is finite for any
    logit x; it equals `torch.nn.functional.binary_cross_entropy_with_logits`. Used by the
    siamese network after Koch et al. (2015), whose logit for "same class" is
    x = b - softplus(w) ||z1 - z2|| (networks/heads.py), and t = 1 for a pair of the same class.
    """
    targets = targets.to(logits.dtype)
    return (logits.clamp_min(0) - logits * targets + torch.log1p(torch.exp(-logits.abs()))).mean()
