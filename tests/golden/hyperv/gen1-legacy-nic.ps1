# Hyper-V virtual machine 'w2k8-legacy', generation 1: rendered by kumo from its GuestSpec.
# kumo instance 0c6e1d1a-4b8f-4f0e-9a44-0000000000a1. Run on the Hyper-V host as an administrator.
$ErrorActionPreference = 'Stop'

$vm = New-VM -Name 'w2k8-legacy' -Generation 1 -MemoryStartupBytes 2GB -NoVHD
Set-VM -VM $vm -Notes 'kumo instance 0c6e1d1a-4b8f-4f0e-9a44-0000000000a1'
Set-VMMemory -VM $vm -DynamicMemoryEnabled $false -StartupBytes 2GB
Set-VMProcessor -VM $vm -Count 1

# Storage (New-VM's default DVD drive is replaced by the spec's drives)
Get-VMDvdDrive -VM $vm | Remove-VMDvdDrive
Add-VMHardDiskDrive -VM $vm -ControllerType IDE -ControllerNumber 0 -ControllerLocation 0 -Path 'C:\ProgramData\kumo\instances\0c6e1d1a-4b8f-4f0e-9a44-0000000000a1\root.vhd'
Set-VMBios -VM $vm -StartupOrder @('IDE', 'CD', 'LegacyNetworkAdapter', 'Floppy')

# Network (New-VM's default adapter is replaced by the spec's)
Get-VMNetworkAdapter -VM $vm | Remove-VMNetworkAdapter
Add-VMNetworkAdapter -VM $vm -Name 'nic0' -IsLegacy $true
# nic0 is not connected: no virtual switch was given (Connect-VMNetworkAdapter -VMName 'w2k8-legacy' -Name 'nic0' -SwitchName <switch>)

# Time: the guest takes the host's time through this integration service
Enable-VMIntegrationService -VM $vm -Name 'Time Synchronization'
