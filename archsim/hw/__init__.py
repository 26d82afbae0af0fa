"""Component models of machines (gpu/, mem/, later cpu/, noc/, dataflow/, ypu/)."""
