"""Predictive planning: forecasts with calibrated intervals, chosen by backtest."""
