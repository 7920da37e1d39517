from .strong_photometric import StrongPhotometricAugment  # noqa: F401
from .nsa_light_disturb import NSALightDisturb  # noqa: F401
