"""Exact m-heights of analog linear codes G = [I | P], by several methods that check each other.

Public API: :func:`m_height` (one matrix), :func:`m_heights` (a batch), :func:`witness`
(a codeword achieving a finite height), and the names in :data:`METHODS` / :data:`CONVENTIONS`.
"""

from solver.api import CONVENTIONS, METHODS, InputError, m_height, m_heights, witness

__all__ = ["CONVENTIONS", "METHODS", "InputError", "m_height", "m_heights", "witness"]
