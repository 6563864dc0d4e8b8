"""Materials and templates: what a business's media really is, and how template text is rendered.

Pure logic over bytes and definitions; storage and carrier calls live in the services.
"""
