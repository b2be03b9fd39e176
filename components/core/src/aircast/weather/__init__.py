"""Weather forecasts from Open-Meteo.

:mod:`aircast.weather.client` reads the Forecast, Previous Runs, Historical Forecast and
Historical Weather (reanalysis) APIs. The no-future-leak store, the ``ingest_weather`` pipeline
and the weather features are the next steps of issue #17 (docs/weather.md).
"""
