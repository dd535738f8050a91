"""Is a directed graph a trap for activation?  The warning every front end shows.

In a directed graph a node with in-arcs but no out-arcs (a sink) keeps all
the activation it receives (see the spreading rule), so on an association
list read as directed -- where most responses are never cues -- a query's
answer fills with whatever many cues point at, and the seeds themselves fall
out of it.  Reading such a list undirected (the default) avoids it.  The
engine returns the warning as text; the CLI prints it, a library caller may
log it.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from pspread.engine.graph import Graph

#: more than this share of the non-isolated nodes being sinks draws the warning
SINK_SHARE = 0.2


def sink_share(graph: Graph) -> float:
    """Sinks (in-arcs, no out-weight) over nodes with any arc; 0 for an empty graph."""
    n = graph.num_nodes
    if n == 0:
        return 0.0
    has_out = np.asarray(graph.out_weight) > 0
    has_in = np.bincount(np.asarray(graph.indices), minlength=n)[:n] > 0
    touched = int(np.count_nonzero(has_out | has_in))
    sinks = int(np.count_nonzero(has_in & ~has_out))
    return sinks / touched if touched else 0.0


def sink_warning(graph: Graph, limit: float = SINK_SHARE) -> Optional[str]:
    """A one-line warning when ``graph`` is directed and more than ``limit`` of its nodes are sinks, else None."""
    if not graph.directed:
        return None
    share = sink_share(graph)
    if share <= limit:
        return None
    return (f"{share:.0%} of the nodes of this directed graph are sinks (arcs in, none out): activation piles up "
            "there and answers fill with them; if its lines are associations rather than one-way links, read it "
            "undirected (the default; drop --directed, or directed=False)")
