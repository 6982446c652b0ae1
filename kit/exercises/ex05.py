"""Checks for lesson 05's exercises: FedAvg by hand, a noise multiplier for a target epsilon, the MIA advantage."""
import numpy as np

from kit.exercises import Hint, exercise
from kit.quiz import Question

__all__ = ["QUIZ", "EPSILONS", "check_fedavg", "check_sigma", "check_advantage", "check_stopping_epsilon",
           "dlg_psnr_under_local_dp"]


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


QUIZ = [
    Question(
        "05.q1", "A hospital runs plain FedSGD and sends the server the gradient of a batch of 4 scans. What can the "
        "server get back?",
        ("nothing: only gradients leave the hospital", "the labels of the batch, and close copies of the 4 scans",
         "only the average brightness of the scans"),
        "b", "iDLG reads the labels off the output-bias gradient, and DLG rebuilds the images by matching the "
        "gradient (section 4: tens of dB above the best guess without inversion)."),
    Question(
        "05.q2", "Flower's DifferentialPrivacyClientSideFixedClipping without SecAgg+: what does an honest-but-curious "
        "server see from each client?",
        ("a noisy update: the clients add the noise", "the client's update, clipped but without noise",
         "only the sum of all updates"),
        "b", "With client-side clipping the noise is added on the server, to the aggregate. Each update arrives "
        "clipped only, and clipping does not stop DLG (our negative control). Pair it with SecAgg+, or use "
        "LocalDpMod."),
    Question(
        "05.q3", "Why can SecAgg+ fail against a malicious server?",
        ("its masks do not cancel", "the server can fill the round with its own clients sending zeros, so the 'sum' "
         "is one victim's update", "it quantises the updates"),
        "b", "SecAgg+ reveals the sum of the round; if every other participant is a sybil, the sum is the target's "
        "update (our sybil control)."),
    Question(
        "05.q4", "A loss-threshold attack shows a membership advantage of 0.04 on 1,000 members and 1,000 non-members. "
        "What do you conclude?",
        ("the model leaks membership", "nothing yet: compare with the advantage two identical sets give by chance "
         "(about 0.05 here)", "the model is differentially private"),
        "b", "The maximum of TPR - FPR over all thresholds is biased upwards; at this sample size its 95th "
        "percentile under no leak is about 0.05."),
]


def dlg_psnr_under_local_dp(epsilon: float, steps: int = 150) -> tuple:
    """(PSNR of DLG on client 0's 4-digit FedSGD update under LocalDpMod at `epsilon`, PSNR of the class-mean guess).

    The same recipe as the lesson's section 6 (clipping norm 1, delta 1e-5, fixed seeds), so it is deterministic.
    """
    from kit import attacks, data, privacy

    d = data.load("mnist5k")
    first = privacy.partition(d.y_train, 10)[0][:4]
    X, y = d.X_train[first], d.y_train[first]
    model = privacy.make_model()
    grads = attacks.client_gradient(model, X, y)
    noisy = grads if epsilon == float("inf") else attacks.local_dp(grads, 1.0, epsilon, privacy.DELTA, seed=0)
    images, _ = attacks.invert(model, noisy, 4, steps=steps, seed=0)
    means = np.stack([d.X_train[d.y_train == c].mean(0) for c in range(10)])
    guess = float(np.mean([attacks.psnr(means[c], x) for x, c in zip(X, y)]))
    return float(attacks.match_scores(images, X)["psnr"].mean()), guess


EPSILONS = (10.0, 100.0, 1000.0, 10000.0)


@exercise("05.4", title="Predict, run, explain: how much local-DP noise stops DLG?",
          section="6. Defence 2: client-side differential privacy in Flower",
          hint="for each epsilon in EPSILONS call dlg_psnr_under_local_dp(epsilon); the attack is stopped when its "
               "PSNR is no better than the class-mean guess; return the LARGEST such epsilon (the least noise)")
def check_stopping_epsilon(stops_at):
    try:
        stops_at = float(stops_at)
    except (TypeError, ValueError):
        raise Hint("return one epsilon from EPSILONS, a number") from None
    if stops_at not in EPSILONS:
        raise Hint(f"choose one of {EPSILONS}")
    stopped = [eps for eps in EPSILONS if (lambda r: r[0] <= r[1])(dlg_psnr_under_local_dp(eps))]
    if not stopped:
        return False, "no epsilon in the list stops the attack here: look at your PSNRs again"
    expected = max(stopped)
    if stops_at < expected:
        raise Hint(f"epsilon = {stops_at:g} stops it, but so does a larger epsilon (less noise, more accuracy)")
    return stops_at == expected, f"the attack stops at epsilon <= {expected:g} per round"
