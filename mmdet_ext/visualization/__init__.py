from .prediction_grid import draw_prediction_grid
from .training_curves import load_scalars, plot_training_curves

__all__ = ['draw_prediction_grid', 'load_scalars', 'plot_training_curves']
