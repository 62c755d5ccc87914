// scheduling/: keeps Placement decisions current. PlacementService runs the pure scheduler
// (placement/) when a placement is created or replaced, when clusters change (join, approval,
// labels, claims, removal), when a cluster's lease lapses or it is heard from again, and when
// a toleration runs out; it stores the status (decisions, groups, conditions) on the
// placement's row and tells subscribers (onDecisionsChanged) which placements changed.

export * from './service.ts';
