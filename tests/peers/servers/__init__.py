"""Our client in this process against Engine.IO servers in processes of their own: npm engine.io,
python-engineio.
"""
