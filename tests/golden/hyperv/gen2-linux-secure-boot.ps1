# Hyper-V virtual machine 'ubuntu-sb', generation 2: rendered by kumo from its GuestSpec.
# kumo instance 0c6e1d1a-4b8f-4f0e-9a44-0000000000b1. Run on the Hyper-V host as an administrator.
$ErrorActionPreference = 'Stop'

$vm = New-VM -Name 'ubuntu-sb' -Generation 2 -MemoryStartupBytes 8GB -NoVHD
Set-VM -VM $vm -Notes 'kumo instance 0c6e1d1a-4b8f-4f0e-9a44-0000000000b1'
Set-VMMemory -VM $vm -DynamicMemoryEnabled $false -StartupBytes 8GB
Set-VMProcessor -VM $vm -Count 4
Set-VMFirmware -VM $vm -EnableSecureBoot On -SecureBootTemplate 'MicrosoftUEFICertificateAuthority'

# Storage (New-VM's default DVD drive is replaced by the spec's drives)
Get-VMDvdDrive -VM $vm | Remove-VMDvdDrive
if (-not (Get-VMScsiController -VM $vm -ControllerNumber 0 -ErrorAction SilentlyContinue)) { Add-VMScsiController -VM $vm }
Add-VMHardDiskDrive -VM $vm -ControllerType SCSI -ControllerNumber 0 -ControllerLocation 0 -Path 'C:\ProgramData\kumo\instances\0c6e1d1a-4b8f-4f0e-9a44-0000000000b1\root.vhdx'
Set-VMFirmware -VM $vm -FirstBootDevice (Get-VMHardDiskDrive -VM $vm -ControllerType SCSI -ControllerNumber 0 -ControllerLocation 0)

# Network (New-VM's default adapter is replaced by the spec's)
Get-VMNetworkAdapter -VM $vm | Remove-VMNetworkAdapter
Add-VMNetworkAdapter -VM $vm -Name 'nic0'
# nic0 is not connected: no virtual switch was given (Connect-VMNetworkAdapter -VMName 'ubuntu-sb' -Name 'nic0' -SwitchName <switch>)

# Time: the guest takes the host's time through this integration service
Enable-VMIntegrationService -VM $vm -Name 'Time Synchronization'
