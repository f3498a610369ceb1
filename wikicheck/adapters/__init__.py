"""Adapters for agent frameworks (optional extras): `pip install 'wikicheck[langchain]'` or `'wikicheck[llamaindex]'`.

Import the submodule you need; each imports its framework lazily, so wikicheck itself never does.
"""
