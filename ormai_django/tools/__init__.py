"""The tool registry (every tool's name, arguments and handler) and the tool definitions
handed to LLM providers. It stands above the handlers (``reads``, ``writes``, ``domain``)."""
