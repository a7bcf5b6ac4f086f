import torch


def cross_entropy_loss(logits, labels):
    """Softmax cross-entropy, averaged over the batch.

        L = mean_i( logsumexp_k(s_ik) - s_i,y_i )

    `logits` (B, K) are unnormalised class scores s, `labels` (B,) integer classes y.
    Written with logsumexp so that large scores do not overflow; equals
    `torch.nn.functional.cross_entropy`.
    """
    picked = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
    return (torch.logsumexp(logits, dim=1) - picked).mean()
