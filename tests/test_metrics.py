import pytest
import torch

from training.metrics import knn_accuracy


def test_knn_accuracy_on_a_hand_made_case():
    reference = torch.tensor([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    reference_labels = torch.tensor([0, 0, 0, 1, 1, 1])
    query = torch.tensor([[0.05], [10.05], [4.0]])
    # 4.0 has neighbours 0.2, 0.1, 0.0 (class 0): a k=3 vote says 0, so the label 1 is wrong.
    assert knn_accuracy(reference, reference_labels, query, torch.tensor([0, 1, 1]), k=3) == pytest.approx(2 / 3)


def test_knn_tie_goes_to_the_nearer_class():
    reference = torch.tensor([[1.0], [-1.5], [2.0], [-2.5]])
    labels = torch.tensor([0, 1, 0, 1])
    # k=4: two votes each; class 0 ranks nearer (1.0 is the nearest neighbour of 0.0).
    assert knn_accuracy(reference, labels, torch.tensor([[0.0]]), torch.tensor([0]), k=4) == 1.0
    assert knn_accuracy(-reference, labels, torch.tensor([[0.0]]), torch.tensor([0]), k=4) == 1.0
    assert knn_accuracy(reference * torch.tensor([[-1.0], [-1.0], [-1.0], [-1.0]]), labels,
                        torch.tensor([[0.0]]), torch.tensor([1]), k=4) == 0.0


def test_knn_chunking_does_not_change_the_answer():
    torch.manual_seed(0)
    reference, query = torch.randn(500, 2), torch.randn(300, 2)
    reference_labels, query_labels = torch.randint(0, 4, (500,)), torch.randint(0, 4, (300,))
    whole = knn_accuracy(reference, reference_labels, query, query_labels, k=5, chunk_size=10_000)
    assert knn_accuracy(reference, reference_labels, query, query_labels, k=5, chunk_size=7) == whole
