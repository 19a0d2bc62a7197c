"""The fused network that benchmarks.fused_members times computes what the ensemble computes."""

import pytest
import torch

from benchmarks.fused_members import FusedEnsemble
from inference.ensemble import DarkCovidNetEnsemble


@pytest.fixture
def member(responsive_net):
    def build(seed: int):
        net = responsive_net(seed)
        for m in net.modules():  # BatchNorm statistics other than the defaults: folding uses them
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        return net

    return build


def test_the_fused_members_give_the_ensembles_outputs_and_grad_cam_block(member):
    ensemble = DarkCovidNetEnsemble(
        [member(s) for s in range(4)], member_inputs=[0, 0, 1, 1], units=[[0, 2], [1, 3]]
    ).eval()
    fused = FusedEnsemble(ensemble).eval()
    x = torch.randn(3, 2, 64, 64)
    with torch.inference_mode():
        want, got = ensemble(x), fused(x)
        assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
        assert torch.allclose(fused.features(x), ensemble.features(x), atol=1e-3, rtol=1e-4)
        assert not torch.allclose(want, ensemble(x.flip(1)), atol=1e-2)  # the inputs matter
    convs = [m for m in fused.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 17 and convs[1].groups == 4  # one convolution per layer for all
