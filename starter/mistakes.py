"""The course's named mistakes: one stable id and one wording each, for every task.

A wrong answer that a check recognises is one of these. The same object gives the hint a student
reads (in ``dlci check``, in the notebook, in their feedback), the id the grader records in a
verdict (``grades.csv``'s ``mistakes`` column) and the row the class report counts, so a hint and
a report row cannot drift apart. The grader's sample submissions and the kit's mistake catalogue
name the ids they plant.

An id is ``<part>.<what>`` (``linear.grad_weight.transposed``): never renamed once a term has
graded with it, since reports of different terms compare by id. The words (``says``) may hold
``{name}``/``{lr}`` fields, which :meth:`Mistake.words` fills in.

Example:
    >>> MISTAKES["relu.wrong_side"].id
    'relu.wrong_side'
    >>> WrongAnswer("grad_bias is wrong", [LINEAR_BIAS_MEAN]).mistakes
    ('linear.grad_bias.mean',)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MISTAKES", "Mistake", "WrongAnswer", "ids", "mistakes_of"]


@dataclass(frozen=True)
class Mistake:
    """One named mistake: its stable ``id``, the task it belongs to and what it is, in words."""

    id: str
    task: str
    says: str

    def words(self, **fields: object) -> str:
        """``says`` with its ``{name}``-style fields filled in."""
        return self.says.format(**fields) if fields else self.says


class WrongAnswer(AssertionError):
    """A failed check that recognised the wrong answer: ``mistakes`` holds their ids.

    An ``AssertionError``, so a test that raises it fails like any assertion; the grader reads
    ``mistakes`` into the verdict (the message is for the student).
    """

    def __init__(self, message: str, mistakes: Iterable[Mistake | str] = ()) -> None:
        super().__init__(message)
        self.mistakes = ids(mistakes)


def ids(mistakes: Iterable[Mistake | str]) -> tuple[str, ...]:
    """The ids of ``mistakes`` (objects or ids), in order, each once."""
    return tuple(dict.fromkeys(m.id if isinstance(m, Mistake) else str(m) for m in mistakes))


def mistakes_of(error: BaseException) -> tuple[str, ...]:
    """The ids a failed check recognised: a :class:`WrongAnswer`'s, none for another error."""
    return error.mistakes if isinstance(error, WrongAnswer) else ()


MISTAKES: dict[str, Mistake] = {}
"""Every named mistake of the course, by id."""


def _named(id: str, task: str, says: str) -> Mistake:
    if id in MISTAKES:
        raise ValueError(f"mistake id {id!r} is named twice")
    MISTAKES[id] = mistake = Mistake(id, task, says)
    return mistake


# ---- Task 1: LinearFunction.backward (row vectors, g = x Wᵀ + b) ----
LINEAR_INPUT_TRANSPOSED = _named(
    "linear.grad_input.transposed", "task1", "it is the transpose of dL/dx"
)
LINEAR_INPUT_UPSTREAM = _named(
    "linear.grad_input.upstream", "task1",
    "it is the upstream gradient itself, not taken back through the weight",
)
LINEAR_WEIGHT_TRANSPOSED = _named(
    "linear.grad_weight.transposed", "task1", "it is the transpose of dL/dW"
)
LINEAR_WEIGHT_MEAN = _named(
    "linear.grad_weight.mean", "task1",
    "it is the batch mean; the loss adds up the examples, so its gradient sums over the batch",
)
LINEAR_BIAS_MEAN = _named(
    "linear.grad_bias.mean", "task1", "it is the batch mean, not the sum over the batch"
)
LINEAR_BIAS_UNSUMMED = _named(
    "linear.grad_bias.unsummed", "task1",
    "it still has the batch dimension: the bias is shared by every row, so its gradient adds "
    "up the rows' contributions",
)
LINEAR_BIAS_SUMMED_OVER_OUTPUTS = _named(
    "linear.grad_bias.summed_over_outputs", "task1",
    "it is summed over the outputs, not over the batch",
)

# ---- Task 1: ReLUFunction.backward ----
RELU_WRONG_SIDE = _named(
    "relu.wrong_side", "task1",
    "it passes the gradient where g < 0 and blocks it where g > 0: the mask is on the wrong side",
)
RELU_MASK_ALONE = _named(
    "relu.mask_alone", "task1",
    "it is the mask alone: the upstream gradient is not multiplied in",
)
RELU_UNMASKED = _named(
    "relu.unmasked", "task1",
    "it is the upstream gradient unmasked: it does not stop where g ≤ 0",
)
RELU_UPSTREAM_SIGN = _named(
    "relu.upstream_sign", "task1",
    "the mask follows the sign of the upstream gradient; it must follow the sign of the input g",
)
RELU_TIMES_INPUT = _named(
    "relu.times_input", "task1",
    "it multiplies the upstream gradient by the input itself; the ReLU's derivative is 0 or 1",
)
RELU_TIMES_OUTPUT = _named(
    "relu.times_output", "task1",
    "it multiplies the upstream gradient by the ReLU's output; the ReLU's derivative is 0 or 1",
)

# ---- Task 1: the analytic dL/dW1, dL/db1 of the MLP (one slip each; a wrong answer may
# combine several) ----
ANALYTIC_MASK1_MISSING = _named(
    "analytic.mask1_missing", "task1", "the gradient does not stop where g1 ≤ 0"
)
ANALYTIC_MASK2_MISSING = _named(
    "analytic.mask2_missing", "task1", "the gradient does not stop where g2 ≤ 0"
)
ANALYTIC_MASKS_MISSING = _named(
    "analytic.masks_missing", "task1",
    "the gradient stops at neither ReLU (not where g1 ≤ 0, not where g2 ≤ 0)",
)
ANALYTIC_MASKS_SWAPPED = _named(
    "analytic.masks_swapped", "task1", "the two ReLU masks are swapped (g1's where g2's belongs)"
)
ANALYTIC_MASKS_WRONG_SIDE = _named(
    "analytic.masks_wrong_side", "task1",
    "the ReLU masks are on the wrong side: the gradient passes where g < 0 and stops where g > 0",
)
ANALYTIC_W2_TRANSPOSED = _named(
    "analytic.w2_transposed", "task1",
    "W2 enters transposed (it is square, so the shapes cannot tell; check which index of W2 the "
    "chain rule sums over)",
)
ANALYTIC_SIGN = _named(
    "analytic.sign", "task1", "it has the opposite sign (check dL/dŷ)"
)
ANALYTIC_AVERAGED = _named(
    "analytic.averaged", "task1",
    "it is 1/N of the right value: the loss sums over the batch, it does not average",
)
ANALYTIC_TWICE = _named(
    "analytic.twice", "task1",
    "it is twice the right value: the ½ in the loss cancels the 2 of the square",
)
ANALYTIC_W1_TRANSPOSED = _named(
    "analytic.grad_w1.transposed", "task1", "it is the transpose of dL/dW1"
)
ANALYTIC_B1_MEAN = _named(
    "analytic.grad_b1.mean", "task1", "it is the batch mean, not the sum over the batch"
)
ANALYTIC_B1_UNSUMMED = _named(
    "analytic.grad_b1.unsummed", "task1", "it still has the batch dimension: sum over the batch"
)
ANALYTIC_B1_SUMMED_OVER_UNITS = _named(
    "analytic.grad_b1.summed_over_units", "task1",
    "it is summed over the hidden units, not over the batch",
)

# ---- Task 1: one gradient-descent step (fields: name, lr) ----
SGD_GRAD_CLEARED = _named(
    "sgd.grad_cleared_first", "task1",
    "{name} did not move and its gradient is now zero: the gradient was cleared before the step "
    "used it",
)
SGD_NOT_IN_PLACE = _named(
    "sgd.not_in_place", "task1",
    "{name} did not move: a step that computes a new tensor and gives it the loop variable's "
    "name leaves the model's tensor as it was; change the parameter itself, in place",
)
SGD_UPHILL = _named(
    "sgd.uphill", "task1",
    "{name} moved by +lr·grad, uphill: gradient descent moves against the gradient",
)
SGD_UNSCALED = _named(
    "sgd.unscaled", "task1",
    "{name} moved by −grad: the step is not scaled by the learning rate (lr = {lr:g})",
)
SGD_USES_PARAMETER = _named(
    "sgd.uses_parameter", "task1",
    "{name} moved by −lr·{name}: the step uses the parameter, not its gradient",
)
SGD_REPLACED = _named(
    "sgd.replaced", "task1", "{name} was replaced by −lr·grad instead of moved by it"
)

# ---- Task 2: the DnCNN ablation ----
DNCNN_BIAS_SWAPPED = _named(
    "dncnn.bias_flag_swapped", "task2",
    "the model was built with the other configuration's bias flag (are the flags swapped?)",
)
DNCNN_TRAINING_SIGMA = _named(
    "dncnn.training_sigma", "task2",
    "the model was trained at another noise level than SIGMA_TRAIN (the other noise levels are "
    "for testing only)",
)
DNCNN_EVALUATED_AT_TRAINING_SIGMA_ONLY = _named(
    "dncnn.eval_training_sigma_only", "task2",
    "the models were evaluated at the training noise level only; evaluate every model at every "
    "test noise level",
)
DNCNN_RESULTS_NOT_FROM_MODELS = _named(
    "dncnn.results_not_from_models", "task2",
    "the results must come from evaluate_model on the trained models at the test noise levels",
)

# ---- Task 3: the measurement y = blur(x) + noise ----
NOISE_MISSING = _named("noise.missing", "task3", "no noise was added")
NOISE_BEFORE_BLUR = _named(
    "noise.before_blur", "task3",
    "the noise was blurred with the image, i.e. added before the blur; the sensor adds it after",
)
NOISE_SIGMA_AS_VARIANCE = _named(
    "noise.sigma_as_variance", "task3",
    "σ was used as a variance, but it is the standard deviation",
)
NOISE_SIGMA_SQUARED = _named(
    "noise.sigma_squared", "task3",
    "σ is already the standard deviation; do not square it",
)
NOISE_BROADCAST = _named(
    "noise.broadcast", "task3",
    "one noise pattern was broadcast over channels or images; draw noise of the measurement's "
    "full shape",
)

# ---- Task 3: the methods (noun phrases: "its output is ...") ----
METHOD_UNCHANGED = _named("methods.unchanged", "task3", "the measurement itself, unchanged")
UNET_ON_WIENER = _named(
    "methods.unet_on_wiener", "task3",
    "models.deblur_denoise applied to Wiener's output, but that network was trained on the "
    "blurred, noisy measurement itself",
)
UNET_WRONG_NETWORK = _named(
    "methods.unet_wrong_network", "task3",
    "models.wiener_denoise applied to the measurement; method_unet uses models.deblur_denoise",
)
UNET_IS_WIENER_UNET = _named(
    "methods.unet_is_wiener_unet", "task3",
    "Wiener + U-Net (models.wiener_denoise on Wiener's output); method_unet is "
    "models.deblur_denoise on the measurement",
)
WIENER_UNET_ON_MEASUREMENT = _named(
    "methods.wiener_unet_on_measurement", "task3",
    "models.wiener_denoise applied to the raw measurement, but that network was trained on "
    "Wiener's output: apply your wiener (SNR 100) first",
)
WIENER_UNET_WRONG_NETWORK = _named(
    "methods.wiener_unet_wrong_network", "task3",
    "models.deblur_denoise applied to Wiener's output; method_wiener_unet uses "
    "models.wiener_denoise",
)
WIENER_UNET_IS_UNET = _named(
    "methods.wiener_unet_is_unet", "task3",
    "the U-Net alone (models.deblur_denoise on the measurement)",
)
WIENER_UNET_NO_NETWORK = _named(
    "methods.wiener_unet_no_network", "task3",
    "Wiener's output alone: the network models.wiener_denoise is missing",
)

WRONG_NETWORK_OR_INPUT: dict[str, dict[Mistake, tuple[str, str]]] = {
    "unet": {
        UNET_ON_WIENER: ("deblur_denoise", "wiener"),
        UNET_WRONG_NETWORK: ("wiener_denoise", "measurement"),
        UNET_IS_WIENER_UNET: ("wiener_denoise", "wiener"),
    },
    "wiener_unet": {
        WIENER_UNET_ON_MEASUREMENT: ("wiener_denoise", "measurement"),
        WIENER_UNET_WRONG_NETWORK: ("deblur_denoise", "wiener"),
        WIENER_UNET_IS_UNET: ("deblur_denoise", "measurement"),
    },
}
"""Method role -> each named mistake that runs a network on an input -> (the network's name in
``load_models``, ``"measurement"`` or ``"wiener"`` (its output at SNR 100)): the one table the
visible hint (``starter.deblur_checks``) and the grader's judge both build the wrong outputs
from."""

# ---- Task 3: the Wiener filter ----
WIENER_NO_CONJUGATE = _named(
    "wiener.no_conjugate", "task3",
    "Wiener without the complex conjugate of H in the numerator (or with the kernel flipped)",
)
WIENER_PLUS_SNR = _named(
    "wiener.plus_snr", "task3",
    "Wiener with + SNR where + 1/SNR belongs in the denominator",
)
WIENER_UNCENTRED = _named(
    "wiener.uncentred_kernel", "task3",
    "Wiener with the kernel's centre not at the origin (zero-padded without the shift that "
    "psf2otf makes): the output is shifted",
)
WIENER_INVERSE_FILTER = _named(
    "wiener.inverse_filter", "task3", "the plain inverse filter: the 1/SNR term is missing"
)
WIENER_SNR_DB = _named(
    "wiener.snr_in_db", "task3", "Wiener with the SNR taken in dB (10^(SNR/10) as the power ratio)"
)

# ---- Task 3: the PSNR table ----
TABLE_SUM = _named(
    "table.sum_not_mean", "task3", "the sum of the per-image PSNRs, not their mean"
)
TABLE_FIRST_IMAGE = _named(
    "table.first_image_only", "task3",
    "the PSNR of the first image only, not the mean over the images",
)
TABLE_POOLED = _named(
    "table.pooled_error", "task3",
    "the PSNR of the images' pooled squared error, not the mean of per-image PSNRs",
)
