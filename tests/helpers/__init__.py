"""What tests share besides conftest.py's fixtures: tiny backbones and media (backbones), servers
on loopback (servers), callbacks that interrupt a run (callbacks), a model built without training
(saved_models), a shipped and served model (shipped), a sweep read back (sweeps), tagged files
for token classification (tokens), and the automatic registered-model name (names). Imported as
`helpers.<module>`: pyproject puts tests/ on sys.path."""
