"""welfare"""
