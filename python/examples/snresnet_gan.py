"""An SN-ResNet-GAN for 32×32 images (Miyato et al. 2018, as PyTorch reimplementations write it)
from a checkpoint to a dgflow-web bundle: the walk-through of README's "Put DGflow on your
project page". Replace the two classes with your own networks, or keep them if yours match.

    python python/examples/snresnet_gan.py --checkpoint my_gan.pt --out my-gan
    python python/examples/snresnet_gan.py --write-untrained my_gan.pt   # a checkpoint to try the path

The checkpoint is `torch.save({"generator": G.state_dict(), "critic": D.state_dict()}, path)`.
"""

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm as sn

from dgflow_export import export


class GeneratorBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.shortcut = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class Generator(nn.Module):
    def __init__(self, latent=128, width=256):
        super().__init__()
        self.width = width
        self.fc = nn.Linear(latent, 4 * 4 * width)
        self.blocks = nn.Sequential(*[GeneratorBlock(width) for _ in range(3)])
        self.bn = nn.BatchNorm2d(width)
        self.out = nn.Conv2d(width, 3, 3, 1, 1)

    def forward(self, z):
        h = self.blocks(self.fc(z).view(-1, self.width, 4, 4))
        return torch.tanh(self.out(F.relu(self.bn(h))))


class CriticBlock(nn.Module):
    def __init__(self, cin, cout, down, first=False):
        super().__init__()
        self.first, self.down = first, down
        self.conv1 = sn(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = sn(nn.Conv2d(cout, cout, 3, 1, 1))
        self.shortcut = sn(nn.Conv2d(cin, cout, 1)) if (cin != cout or down) else None

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.shortcut is None:
            return x + h
        # The first block pools before its 1×1 convolution, the others after (Miyato et al.).
        s = self.shortcut(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.shortcut(x), 2)
        return s + h


class Critic(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        self.blocks = nn.Sequential(
            CriticBlock(3, width, down=True, first=True),
            CriticBlock(width, width, down=True),
            CriticBlock(width, width, down=False),
            CriticBlock(width, width, down=False),
        )
        self.fc = sn(nn.Linear(width, 1))

    def forward(self, x):
        return self.fc(torch.sum(F.relu(self.blocks(x)), dim=(2, 3)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="torch.save({'generator': …, 'critic': …}) of these networks")
    parser.add_argument("--out", default="my-gan", help="the bundle folder to write")
    parser.add_argument("--name", default="my-gan", help="the model's name in the page (lower case, digits, - and _)")
    parser.add_argument("--description", default="An SN-ResNet-GAN on 32×32 images")
    parser.add_argument("--trained-by", default="", help="who trained it (shown by the page and dgflow info)")
    parser.add_argument("--data", default="CIFAR-10", help="what it was trained on")
    parser.add_argument("--latent", type=int, default=128)
    parser.add_argument("--width", type=int, default=256, help="the generator's channels (the critic has half)")
    parser.add_argument("--write-untrained", metavar="PATH", help="write an untrained checkpoint of these networks and stop")
    parser.add_argument("--dgflow", help="the dgflow CLI for the check (default: $DGFLOW, PATH, or where ./build.sh leaves it)")
    args = parser.parse_args()

    generator, critic = Generator(args.latent, args.width), Critic(args.width // 2)
    if args.write_untrained:
        torch.manual_seed(0)
        # One training-mode pass, as a training run leaves them: batch-norm statistics and
        # spectral-norm vectors that have seen data.
        with torch.no_grad():
            critic(generator(torch.randn(16, args.latent)))
        torch.save({"generator": generator.state_dict(), "critic": critic.state_dict()}, args.write_untrained)
        print(f"wrote {args.write_untrained} (untrained: only to try the path)")
        return
    if not args.checkpoint:
        parser.error("give --checkpoint (or --write-untrained PATH to make one to try)")
    state = torch.load(args.checkpoint, map_location="cpu")
    generator.load_state_dict(state["generator"])
    critic.load_state_dict(state["critic"])
    export(
        generator,
        critic,
        args.out,
        name=args.name,
        latent_dim=args.latent,
        description=args.description,
        trained_by=args.trained_by,
        data=args.data,
        recipe="python/examples/snresnet_gan.py",
        dgflow=args.dgflow,
    )


if __name__ == "__main__":
    main()
