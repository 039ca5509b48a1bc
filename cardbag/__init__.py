"""The WeChat card bag (微信会员卡, issue 21): a template made a WeChat member card, members'
cards added to their WeChat card bag, the official account's message server, and the
figures kept in step from o2o to WeChat.

A layer between payments and marketing; it reads and acts on cards only through
``cards.public`` and on the chain's WeChat app through ``stores.service``.
"""
