"""Energy digital twin of the communes' buildings (issue 17).

`engine/` is plain Python (numpy/scipy, no Django): parsers, weather, baselines,
décret tertiaire, drifts and the thermal what-if. The Django app around it (models,
imports into the database, pages, CLI, API) calls the engine and owns storage.
"""
