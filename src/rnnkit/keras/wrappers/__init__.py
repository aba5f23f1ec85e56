"""scikit-learn wrappers for Keras models (Keras 2's ``keras.wrappers.scikit_learn`` API).

Example:
    >>> from rnnkit.keras.wrappers import KerasClassifier
    >>> KerasClassifier(build_fn=None, epochs=3).get_params()["epochs"]
    3
"""

from rnnkit.keras.wrappers import scikit_learn
from rnnkit.keras.wrappers.scikit_learn import KerasClassifier, KerasRegressor

__all__ = ["KerasClassifier", "KerasRegressor", "scikit_learn"]
