"""The rhythm room: what segue hears of the player's pulse (a causal beat tracker). numpy and stdlib only; imports
nothing above it in segue."""
