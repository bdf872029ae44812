"""Our client through real proxies in processes of their own: tinyproxy (HTTP), microsocks (SOCKS5)."""
