package lexical

// FleetStats are term statistics over every shard of the fleet, as central
// sees them. A node that holds only part of the fleet's knowledge scores
// with them so its scores mean what central's mean, and compares them with
// its own to tell how much of a question it holds at all.
type FleetStats struct {
	N  uint64            // chunks in the fleet
	DF map[string]uint32 // analysed term → chunks containing it
}
