from .strong_photometric import StrongPhotometricAugment  # noqa: F401
