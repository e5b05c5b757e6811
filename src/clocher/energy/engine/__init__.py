"""The energy engine: plain Python on numpy/scipy, importing no Django.

Modules, each with a small typed interface (see docs/energy.md):

- `loadcurve`  Enedis load curves (`Horodate;Valeur;Pas`), daily/monthly indexes and
  invoices → numpy arrays and a per-line report.
- `weather`    Météo-France daily files (`Q_<dept>_…_RR-T-Vent.csv`), nearest station,
  degree-days (DJU) by the Météo-France and COSTIC methods.
- `baseline`   CalTRACK daily change-point model (`hourly`: the CalTRACK 2 hourly model),
  ASHRAE Guideline 14 metrics, avoided energy and normalised savings with uncertainty.
- `tertiaire`  décret tertiaire: reference year, climate adjustment, trajectory to
  −40/−50/−60 %, OPERAT declaration rows.
- `drifts`     night/weekend base load, outlier days, jumps → `Drift` with French text.
- `thermal`    ISO 13790 5R1C hourly model, calibration and what-if measures.

Conventions: times are UTC epoch seconds (int64) or numpy `datetime64[D]` local days;
energies are kWh; temperatures °C; every refusal is a `ValueError` subclass whose
message is French and names what is wrong.
"""
