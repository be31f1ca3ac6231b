"""The engine child process that owns llama.cpp. The only package that imports llama_cpp."""
