"""The evaluation room: the one scorer, count baselines, the continuation test, musical metrics and piano rolls.
Imports the codec and inference rooms."""
