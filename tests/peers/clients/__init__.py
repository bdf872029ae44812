"""Engine.IO clients in processes of their own against our server: engine.io-client, python-engineio,
Chromium.
"""
