"""The learning side: the policy network, PPO training as composed callbacks, run folders, model
loading, evaluation, plots and the visualization window."""
