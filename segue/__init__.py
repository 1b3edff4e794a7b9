"""segue: real-time MIDI continuation. The torch-free core, in rooms: codec/ (events <-> MIDI), inference/ (engine,
the one sampling loop, generate), evaluation/ (the one scorer, baselines, metrics), cli/ (`segue <verb>`); config.py
and errors.py serve them all. Nothing here imports training/, export/ or daemon/."""

__version__ = "0.1.0"
