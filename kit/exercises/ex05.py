"""Checks for lesson 05's exercises: FedAvg by hand, a noise multiplier for a target epsilon, the MIA advantage."""
import numpy as np

from kit.exercises import Hint, exercise


@exercise("05.1", title="FedAvg's weighted average, by hand", section="3. Federated learning with Flower",
          hint="multiply each client's arrays by its number of examples, sum, divide by the total number of examples")
def check_fedavg(fedavg):
    from flwr.server.strategy.aggregate import aggregate

    rng = np.random.default_rng(5)
    updates = [[rng.normal(size=(3, 4)), rng.normal(size=4)] for _ in range(3)]
    counts = [10, 30, 60]
    expected = aggregate(list(zip(updates, counts)))  # Flower's own FedAvg aggregation
    got = fedavg(updates, counts)
    if len(got) != len(expected):
        raise Hint(f"return one array per layer ({len(expected)}), got {len(got)}")
    if np.allclose(got[0], np.mean([u[0] for u in updates], axis=0)):
        raise Hint("that is the plain mean: weight each client by its number of examples")
    return all(np.allclose(g, e, atol=1e-6) for g, e in zip(got, expected))


@exercise("05.2", title="A noise multiplier for epsilon = 3", section="5. Differential privacy with Opacus",
          hint="opacus.accountants.utils.get_noise_multiplier(target_epsilon=3, target_delta=1e-5, "
               "sample_rate=128/4000, epochs=10), or try values and ask an RDPAccountant")
def check_sigma(sigma):
    from opacus.accountants import RDPAccountant

    sigma = float(sigma)
    if sigma <= 0:
        raise Hint("the noise multiplier must be positive")
    accountant = RDPAccountant()
    accountant.history = [(sigma, 128 / 4000, 10 * 4000 // 128)]
    eps = accountant.get_epsilon(1e-5)
    if eps > 3.0:
        raise Hint(f"with sigma={sigma:.2f} the run spends eps={eps:.2f} > 3: add more noise")
    if eps < 2.7:
        raise Hint(f"sigma={sigma:.2f} spends only eps={eps:.2f}: that much noise costs accuracy for nothing")
    return True, f"eps = {eps:.2f}"


@exercise("05.3", title="The membership advantage of a loss threshold", section="6. The attack: membership inference",
          hint="for each threshold t, TPR = share of member losses <= t, FPR = share of non-member losses <= t; "
               "return the largest TPR - FPR")
def check_advantage(advantage):
    rng = np.random.default_rng(3)
    cases = [(rng.exponential(0.3, 200), rng.exponential(1.0, 150)),
             (rng.exponential(1.0, 100), rng.exponential(1.0, 100)),
             (np.array([0.1, 0.2]), np.array([1.0, 2.0, 3.0]))]
    for inside, outside in cases:
        thresholds = np.r_[-np.inf, np.sort(np.r_[inside, outside])]
        expected = max(float((inside <= t).mean() - (outside <= t).mean()) for t in thresholds)
        got = float(advantage(inside, outside))
        if abs(got - expected) > 1e-6:
            if abs(got + expected) < 1e-6:
                raise Hint("the sign is flipped: members have LOW loss")
            return False, f"expected {expected:.3f}, got {got:.3f}"
    return True
